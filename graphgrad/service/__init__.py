"""The HTTP service: the app, its connections, its worker pool and tasks, the playground."""
