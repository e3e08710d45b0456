"""Who may use the dashboard: the password and its throttle, the server-held login sessions, and the TLS
certificate the dashboard serves."""
