//! Rendering and checking OpenShift MachineConfigs (Ignition 3.2.0) that persist the sysctls a node
//! needs for metalroute: forwarding, reverse-path filtering and l3mdev acceptance.
