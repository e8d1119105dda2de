"""Tests of bot/bsp/meta/."""
