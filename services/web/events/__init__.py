"""The live event stream: one poller per process reads the MES database's changes by
watermarks and fans them out to every connected client, filtered by the client's scopes."""
