"""Completion-callback rules shared by the API and the sender: Standard Webhooks
signing, the companies' secrets, and which hosts may be called."""
