"""Prompts for posture breaks, weight shifts and stretches: the pure policy, MQTT transport, prompter."""
