"""The command-and-dispatch core: domain rules, data, services and real-time delivery."""
