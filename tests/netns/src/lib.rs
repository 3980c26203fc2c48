//! Test harness for integration tests: network namespaces created and removed by guards, veth
//! links between them, and real routers (FRR, BIRD, GoBGP, ExaBGP) started inside them.
