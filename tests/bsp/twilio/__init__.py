"""Tests of bot/bsp/twilio/."""
