"""Web accounts: passwords, mailed one-time links, sign-up, login and password reset."""
