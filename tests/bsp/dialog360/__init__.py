"""Tests of bot/bsp/dialog360/."""
