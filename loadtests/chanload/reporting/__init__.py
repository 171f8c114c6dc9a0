"""What a run leaves behind: the summary, JUnit XML, the HTML report and its charts.

`artifacts` is the one module that writes files; the others return strings, bytes or dicts."""
