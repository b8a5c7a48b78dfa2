from kalshibot.cli import main

raise SystemExit(main())
