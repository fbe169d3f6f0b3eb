"""The plugin machinery: hook specifications, the manager, the registry."""
