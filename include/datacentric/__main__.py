from datacentric.cli import main

raise SystemExit(main())
