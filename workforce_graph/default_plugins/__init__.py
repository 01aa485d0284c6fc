"""Built-in workers, registered through the same hooks as any third-party plugin."""
