"""Speed and memory measurements of ksmc-bot and its simulator; each module has a main()."""
