"""The network desk: saved answers, transfers between networks, and figures (issue 15)."""
