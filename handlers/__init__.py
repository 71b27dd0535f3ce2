"""Slack-facing code: parse chat text into typed commands and render Block Kit."""
