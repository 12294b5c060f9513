"""The daeploy command line."""
