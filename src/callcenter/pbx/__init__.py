"""PBX adapter: the AMI link (panoramisk, hardened), FastAGI server, translation to domain events."""
