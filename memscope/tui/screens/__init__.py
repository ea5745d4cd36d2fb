"""The app's screens: one per mode, plus dialogs and the example detail."""
