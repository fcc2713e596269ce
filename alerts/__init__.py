"""Prompts for posture breaks, weight shifts and stretches: the pure policy, MQTT transport, prompter."""

from alerts.embedded_broker import EmbeddedBroker, start_embedded_broker
from alerts.messages import AckMessage, SymptomReport
from alerts.mqtt_transport import AlertPublisher, TlsOptions
from alerts.policy import Outcome, Policy, PolicyConfig, Prompt
from alerts.prompter import Prompter, run_prompter
from alerts.stretches import STRETCHES, Stretch

__all__ = ["AckMessage", "AlertPublisher", "EmbeddedBroker", "Outcome", "Policy", "PolicyConfig", "Prompt",
           "Prompter", "STRETCHES", "Stretch", "SymptomReport", "TlsOptions", "run_prompter",
           "start_embedded_broker"]
