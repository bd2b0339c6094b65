"""One module per extra subcommand of `microgpt-viz` (see COMMAND_MODULES in cli.py)."""
