"""The web app service: the single-page app's files and the live event stream (issue 17)."""
