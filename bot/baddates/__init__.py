"""Bad-date reports (issue 16, items 1 and 2): the member's form and the network's moderation."""
