"""The chat: Markdown rendering, message bubbles, the transcript and the conversation list."""
