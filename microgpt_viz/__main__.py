from microgpt_viz.cli import main

raise SystemExit(main())
