"""hallq's web console (CONTRACT §6): staff sign-in, the window's calling client, the 导服台, the ticket page."""
