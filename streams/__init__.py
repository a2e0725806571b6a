"""Video: camera sources, shared encoders, WebRTC viewing, video calls and recording."""
