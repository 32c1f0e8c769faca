"""Members' safety: clearing the chat, discreet mode, the PIN, /forget and data retention."""
