# SPDX-License-Identifier: LGPL-2.1-or-later
"""Views: rich tables and trees for people, JSON for programs."""
