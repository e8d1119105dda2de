"""Tests of bot/bsp/gupshup/."""
