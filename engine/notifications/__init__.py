"""Status notifications: the sender of the outbox, its HTTP client, callback URL checks."""
