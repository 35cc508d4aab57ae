from edigate.cli import main

raise SystemExit(main())
