# SPDX-License-Identifier: LGPL-2.1-or-later
"""Views: one view model per command (models), rendered as tables and trees for people (tables, render)
or as JSON for programs (data, jsonout); output writes either to a stream as it goes."""
