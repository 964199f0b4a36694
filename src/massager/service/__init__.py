"""The service (`massager serve`): one device, one session at a time, and its clients.

JSON-RPC over a websocket, HTTP and a Unix socket, the phone page, and the Home
Assistant MQTT bridge; see docs/api.md and docs/home-assistant.md.
"""
