//! BFD (RFC 5880/5881/5883): control-packet codec and the sans-IO session engine.
