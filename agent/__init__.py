"""The reference signing agent run at the user's side."""
