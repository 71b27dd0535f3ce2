"""`ksmc-bot console`: the terminal front end, the whole bot without Slack (a front door, like
the HTTP and Socket Mode ones: it may import handlers, bot and k8s, and nothing imports it but
the CLI's `console` subcommand)."""
