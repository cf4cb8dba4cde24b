"""What was delivered against a plan: actual positions read, visits measured, reported."""
