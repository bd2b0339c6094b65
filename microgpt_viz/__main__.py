from microgpt_viz.cli.main import main

raise SystemExit(main())
