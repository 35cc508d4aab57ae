"""One module per `edigate` sub-command; each exposes `register(subparsers)`."""
