from ttv.cli import main

raise SystemExit(main())
