"""Tests of bot/bsp/fortics/."""
