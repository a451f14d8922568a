"""The dimension sync: Protheus dimensions mirrored into analytics_src for the BI views."""
