import { render } from 'preact'

render(<h1>querysight</h1>, document.getElementById('app')!)
