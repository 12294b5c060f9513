"""The Daeploy dashboard: services, notifications, logs and monitored values in a browser.

Runs in its own pod (services/dashboard/Dockerfile, chart value ``dashboard.enabled``) and acts
on the API server with each user's own Kubernetes token.
"""
