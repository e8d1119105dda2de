"""Tests of bot/bsp/sandbox/."""
