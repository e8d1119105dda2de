"""Tests of bot/bsp/cloudapi/."""
