from selfcodealign.cli import main

raise SystemExit(main())
