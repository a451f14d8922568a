"""The single-page app's files: index.html and the versioned static folder."""
